"""Reading and writing files: events, graphs, persona assignments, configs and run directories."""
