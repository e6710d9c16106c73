"""The appointment calendar for all citizen-office branches (issue 9)."""
