"""Writes of the orders app. Import the concern module you need: intake, transitions, timeline, alerts, roles."""
