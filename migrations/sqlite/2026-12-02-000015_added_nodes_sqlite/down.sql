ALTER TABLE added_nodes RENAME TO added_trainers;
