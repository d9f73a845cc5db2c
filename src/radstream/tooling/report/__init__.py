"""`radstream report`: one self-contained HTML file and PNG charts from saved benchmark and A/B results."""
