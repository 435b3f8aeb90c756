"""Clinician dashboards: tidy frames from the database, statistics, Plotly figures, pages."""
