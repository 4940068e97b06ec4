-- The content id (sha256:...) of the miner image an attempt ran, failed attempts included: NULL when
-- no image was built (the fetch, the gates or the build failed), when the executor does not know it,
-- and for attempts recorded before this column existed. Keep in step with the other backend's
-- migration.
ALTER TABLE training_attempts ADD COLUMN image TEXT;
