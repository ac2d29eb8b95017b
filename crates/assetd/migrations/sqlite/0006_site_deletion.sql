-- A site being deleted: hidden from the API at once, then emptied in batches (by
-- `assetd site delete` and, should that stop midway, by the sweep). The row itself goes last,
-- once nothing of the site is left and long enough has passed that no node can still create an
-- asset in it.
ALTER TABLE sites ADD COLUMN deleting_since INTEGER;
