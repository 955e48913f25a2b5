"""What a notebook runs in its own kernel, in every client (JupyterLab, plain papermill, the report).

``display``     `setup_notebook` (the first cell: plotly renderers for every client, quiet model loading)
``parameters``  read a notebook's ``parameters`` cell and presets; `check_notebook_parameters` (the second cell)
``rules``       the check of every notebook parameter name and the rules between parameters
``recording``   `record` / `record_figure`: numbers and figures a notebook hands to the report
"""
