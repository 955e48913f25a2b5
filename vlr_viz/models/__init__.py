"""vlr_viz.models"""
