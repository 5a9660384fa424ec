"""Recurrent A2C on Atari in torch and TF: config, rollouts, agents, training loop."""
