"""Helpers shared by the test tiers: app launchers, corpus and index fixtures."""
