"""What each job reads and depends on (mosaicflow.planning.jobs), without Snakemake."""

from mosaicflow.files import layout
from mosaicflow.planning import jobs as plan

IDS = [f"tile_{n:03d}-{n:08x}" for n in range(20)]
RECORDS = {i: {"hdu": "0", "method": "mProjectPP", "content": f"c{n}"} for n, i in enumerate(IDS)}


def test_a_batch_job_reads_and_depends_on_its_own_images_only():
    by_batch, batch_of = plan.batch_of_images(tuple(IDS), 4)
    assert sorted(batch_of) == IDS and all(batch_of[i] == b for b, members in by_batch.items() for i in members)
    members = by_batch[batch_of[IDS[0]]]
    key = plan.projection_key_text(members, RECORDS, {})
    # another image's content leaves this batch's parameter as it was; its own changes it
    other = next(i for i in IDS if i not in members)
    assert plan.projection_key_text(members, {**RECORDS, other: {**RECORDS[other], "content": "x"}}, {}) == key
    changed = {**RECORDS, members[0]: {**RECORDS[members[0]], "content": "x"}}
    assert plan.projection_key_text(members, changed, {}) != key
    # a new failure token of one of its images changes it too (the next run retries it)
    assert plan.projection_key_text(members, RECORDS, {members[0]: "t1"}) != key
    assert plan.tokens_option(members, {members[0]: "t1", other: "t2"}) == f"{members[0]}=t1"
    assert plan.all_tokens({"b": "2", "a": "1"}) == "a=1,b=2"


def test_projected_files_are_batch_folders_or_images_with_areas_and_keys():
    folders = plan.projected_files("m", IDS[:3], "batch", 4)
    assert folders == sorted(set(folders)) and all("/projected/batch-" in f for f in folders)
    assert {layout.path("m", "projection_batch", batch=layout.batch_of(i, 4)) for i in IDS[:3]} == set(folders)
    files = plan.projected_files("m", IDS[:1], "image", 4)
    image = layout.path("m", "projected", image=IDS[0])
    assert files == [image, image.replace(".fits", "_area.fits"), image + ".key"]
    assert plan.projected_files("m", IDS[:1], "image", 4, areas=False) == [image, image + ".key"]
    assert plan.projection_batches_option("batch", 8) == 8 and plan.projection_batches_option("image", 8) == 0


def test_small_plans():
    pairs = [(IDS[0], IDS[1]), (IDS[0], IDS[2]), (IDS[1], IDS[2])]
    assert plan.later_images(pairs) == {IDS[0]: [IDS[1], IDS[2]], IDS[1]: [IDS[2]]}
    assert plan.pairs_digest(pairs) != plan.pairs_digest(pairs[1:])
    assert (
        layout.image_id_of("batch-3/tile_001-00000001.fits") == layout.image_id_of("tile_001-00000001.fits") == IDS[1]
    )
    assert plan.coadd_in_tiles(5000, 5000, 0, 2) and not plan.coadd_in_tiles(5000, 5000, 0, 1)
    assert not plan.coadd_in_tiles(100, 100, 20000, 4)
