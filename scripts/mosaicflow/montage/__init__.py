"""The Montage stages: per image and per overlap (per_item), once per mosaic
(per_mosaic), the coadd in tiles, and which difference fits the background model
uses and how it is solved (fitscreen, bgsolve)."""

# mBgModel leaves out fits over fewer pixels than this fraction of the average
# image area (areaLimit in Montage's montageBgModel.c); bgsolve's lsq solve does the same.
BGMODEL_AREA_LIMIT = 0.001
