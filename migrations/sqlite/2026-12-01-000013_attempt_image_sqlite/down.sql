ALTER TABLE training_attempts DROP COLUMN image;
