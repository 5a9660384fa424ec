"""`cellbench sweep`: a grid of BC / A2C trainings run as Ray tasks, locally or on a cluster."""
