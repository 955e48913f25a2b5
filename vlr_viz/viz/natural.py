"""The figure of natural modal imbalance (`vlr_viz.experiments.natural_imbalance`): datasets side by side, each
teacher's strength per category (top) and per caption-quality group (bottom), with the teachers' kNN agreement."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vlr_viz.viz.colors import series_color

AGREEMENT_COLOR = "#595959"


def natural_imbalance_figure(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """One column per dataset. Bars: the image and the text teacher's category NDCG@10 for the group's queries;
    diamonds: the share of an image's 10 neighbours both teachers agree on. Categories are ordered by the image
    teacher's strength; hover gives the number of queries."""
    missing = {"dataset", "grouping", "group", "measure", "value", "n"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks column(s) {', '.join(sorted(missing))} (natural_imbalance's rows)")
    datasets = list(dict.fromkeys(table["dataset"]))
    fig = make_subplots(rows=2, cols=len(datasets), column_titles=datasets, vertical_spacing=0.22,
                        horizontal_spacing=0.06, row_heights=[0.62, 0.38])
    for col, dataset in enumerate(datasets, start=1):
        for row, grouping in enumerate(("category", "caption quality"), start=1):
            part = table[(table.dataset == dataset) & (table.grouping == grouping)]
            wide = part.pivot_table(index="group", columns="measure", values="value", sort=False)
            counts = part.pivot_table(index="group", columns="measure", values="n", sort=False)
            if grouping == "category":
                wide = wide.sort_values("image NDCG@10", ascending=False)
                counts = counts.reindex(wide.index)
            for measure, name in (("image NDCG@10", "image"), ("text NDCG@10", "text")):
                fig.add_trace(go.Bar(x=list(wide.index), y=wide[measure], name=f"{name} teacher NDCG@10",
                                     marker_color=series_color(name), legendgroup=name,
                                     showlegend=col == 1 and row == 1, customdata=counts[measure],
                                     hovertemplate=f"%{{x}}<br>{name} teacher NDCG@10 %{{y:.1f}} "
                                                   "(%{customdata} queries)<extra></extra>"), row=row, col=col)
            fig.add_trace(go.Scatter(x=list(wide.index), y=wide["kNN agreement"], mode="markers",
                                     name="teachers' kNN agreement (%)", legendgroup="agreement",
                                     marker=dict(symbol="diamond", size=9, color=AGREEMENT_COLOR),
                                     showlegend=col == 1 and row == 1, customdata=counts["kNN agreement"],
                                     hovertemplate="%{x}<br>kNN agreement %{y:.1f} % (%{customdata} images)"
                                                   "<extra></extra>"), row=row, col=col)
            fig.update_yaxes(range=[0, 100], row=row, col=col,
                             title_text=("per category" if row == 1 else "per caption quality") if col == 1 else None)
            fig.update_xaxes(tickangle=-45 if row == 1 else 0, row=row, col=col)
    fig.update_layout(barmode="group", template="plotly_white", height=780,
                      title=title or "Natural imbalance: teacher strength per category and caption quality",
                      legend=dict(orientation="h", yanchor="bottom", y=1.06, x=0), margin=dict(t=120))
    return fig
