DROP INDEX node_tasks_started_at;
DROP INDEX node_tasks_status;
DROP TABLE node_tasks;
