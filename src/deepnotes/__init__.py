"""deepnotes: a graduate deep-learning course as verified PyTorch components and experiments.

Library use: ``from deepnotes import data, engine`` (and the topic packages as they land).
Course use: ``deepnotes run all --quick`` then ``deepnotes report``.
"""

__version__ = "0.1.0"
