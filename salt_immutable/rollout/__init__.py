"""PURE: the roll's decisions — surge and unavailability arithmetic, and the planner."""
