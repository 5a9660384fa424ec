"""Atari for cellbench: settings, env factories, the scripted experts and the BC dataset."""

from .settings import KNOWN_GAMES, AtariSettings, env_id, rom_id

__all__ = ["KNOWN_GAMES", "AtariSettings", "env_id", "rom_id"]
