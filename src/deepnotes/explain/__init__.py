"""Interpretability (course section 6): LIME for tables and images, gradient attributions,
faithfulness metrics. See ``docs/interpretability.md`` for the course's taxonomy."""

from .gradients import (
    IG_METHODS,
    completeness_gap,
    gradient_x_input,
    integrated_gradients,
    quadrature,
    saliency,
    smoothgrad,
    target_scores,
)
from .lime import (
    Explanation,
    fit_surrogate,
    lime_image,
    lime_tabular,
    quartile_discretizer,
    slic_segments,
    tabular_neighbourhood,
)
from .metrics import (
    FaithfulnessCurve,
    auc,
    deletion_curve,
    insertion_curve,
    jaccard,
    random_attributions,
    stability,
    surrogate_fidelity,
    top_k,
    topk_jaccard,
)

__all__ = [
    # lime
    "Explanation", "fit_surrogate", "lime_image", "lime_tabular", "quartile_discretizer",
    "slic_segments", "tabular_neighbourhood",
    # gradients
    "IG_METHODS", "completeness_gap", "gradient_x_input", "integrated_gradients", "quadrature",
    "saliency", "smoothgrad", "target_scores",
    # metrics
    "FaithfulnessCurve", "auc", "deletion_curve", "insertion_curve", "jaccard",
    "random_attributions", "stability", "surrogate_fidelity", "top_k", "topk_jaccard",
]
