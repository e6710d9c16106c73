"""The city's organisation: departments (Fachbereiche, Ämter) and citizen-office branches.

Identity and every domain may use it; it uses only core.
"""
