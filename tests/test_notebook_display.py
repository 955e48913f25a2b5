"""What every notebook's first cell sets up: renderers that serve live and static clients, no model-loading
progress bars, responsive display copies."""
import os

import pytest

from vlr_viz.notebook import display as nd


@pytest.fixture
def plotly_renderers(monkeypatch):
    """Restore plotly's renderer settings after the test."""
    import plotly.io as pio

    saved = (pio.renderers.default, {n: dict(pio.renderers[n].config) for n in ("plotly_mimetype", "notebook")})
    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)
    yield pio
    pio.renderers.default = saved[0]
    for name, config in saved[1].items():
        pio.renderers[name].config = config


def test_notebook_renderers_emit_the_live_mimetype_and_responsive_html(plotly_renderers):
    import plotly.graph_objects as go

    pio = plotly_renderers
    assert nd.use_notebook_renderers() == "plotly_mimetype+notebook" == pio.renderers.default
    fig = go.Figure(go.Bar(x=["a"], y=[1]), layout=dict(width=1260, height=300))
    bundle = pio.renderers._build_mime_bundle(nd.responsive(fig).to_dict())
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    live = bundle["application/vnd.plotly.v1+json"]
    assert live["config"]["responsive"] is True and "width" not in live["layout"] and live["layout"]["height"] == 300
    assert '"responsive": true' in bundle["text/html"] and "width:100%" in bundle["text/html"].replace(" ", "")
    assert fig.layout.width == 1260  # the figure itself (and its PNG export) keeps its size


def test_a_renderer_chosen_by_the_user_wins(plotly_renderers, monkeypatch):
    pio = plotly_renderers
    pio.renderers.default = "json"
    monkeypatch.setenv("PLOTLY_RENDERER", "json")
    assert nd.use_notebook_renderers() == "json"


def test_setup_outside_a_kernel_leaves_plotly_alone_and_quiets_model_loading(plotly_renderers, monkeypatch):
    import huggingface_hub.utils as hub
    import transformers.utils.logging as tlog

    pio = plotly_renderers
    before = pio.renderers.default
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    tlog.enable_progress_bar()
    hub.enable_progress_bars()
    try:
        assert nd.in_kernel() is False
        nd.setup_notebook()
        assert pio.renderers.default == before
        assert tlog.is_progress_bar_enabled() is False and hub.are_progress_bars_disabled()
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"  # for a transformers imported later
    finally:
        tlog.enable_progress_bar()
        hub.enable_progress_bars()


def test_responsive_copy_of_a_figure_widget_is_a_plain_figure():
    pytest.importorskip("anywidget")
    import plotly.graph_objects as go

    widget = go.FigureWidget(go.Scatter(x=[1, 2], y=[3, 4]), layout=dict(width=900, title="t"))
    copy = nd.responsive(widget)
    assert type(copy) is go.Figure and copy.layout.width is None and copy.layout.title.text == "t"
    assert list(copy.data[0].y) == [3, 4] and widget.layout.width == 900
