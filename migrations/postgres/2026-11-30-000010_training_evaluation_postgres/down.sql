ALTER TABLE node_tasks DROP COLUMN evaluation;
ALTER TABLE trainings DROP COLUMN evaluation;
