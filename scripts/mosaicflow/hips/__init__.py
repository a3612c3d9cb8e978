"""HiPS (IVOA Hierarchical Progressive Surveys) of a finished mosaic: the plan
(order, tiles, batches), the deepest order's tiles in batches, the pyramid of
lower orders, and the HiPS folder with its properties, Allsky, MOC and page."""
