-- A GPU host is a node: the nodes operators added through the control API.
ALTER TABLE added_trainers RENAME TO added_nodes;
