"""HTML pages of runs and comparisons: charts (the only plotly import) and page pieces."""
