"""Generative models: GAN losses and trainer (Algorithm 1), GAN theory on 1-D densities,
mode-coverage and Fréchet-distance metrics.

- ``losses``: the seven losses of the course (MM, NS, WGAN, WGAN-GP, LSGAN, DRAGAN, BEGAN) as
  functions of the discriminator's outputs, and ``GANLoss`` objects for the trainer;
- ``gan``: ``train_gan`` (k discriminator steps per generator step, any optimizer, checkpoints
  through the engine), MLP and convolutional generators/discriminators, ``sample``;
- ``metrics``: ``mode_coverage`` (VEEGAN/PacGAN), ``frechet_distance`` and the digits feature
  network;
- ``vae``: ``Autoencoder``, ``VAE`` (ELBO with the reparameterization trick, the
  importance-weighted bound ``log_likelihood``, ``sample``, ``interpolate``), MLP builders;
- ``theory``: ``optimal_discriminator``, ``value_function``, ``virtual_training_criterion``,
  ``jensen_shannon_divergence`` on tabulated 1-D densities.
"""

from .gan import (
    DEFAULTS,
    ConvDiscriminator,
    ConvGenerator,
    Discriminator,
    GANResult,
    Generator,
    make_optimizer,
    sample,
    train_gan,
)
from .losses import (
    LOSSES,
    BeganLoss,
    DraganLoss,
    GANLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WassersteinGPLoss,
    WassersteinLoss,
    autoencoder_l1,
    began_convergence,
    began_discriminator_loss,
    began_generator_loss,
    began_update_k,
    clip_weights,
    dragan_penalty,
    gradient_penalty,
    input_gradient_norms,
    interpolate,
    labeled_discriminator_loss,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
    make_loss,
    minimax_discriminator_loss,
    minimax_generator_loss,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from .metrics import (
    ModeCoverage,
    digits_classifier,
    digits_frechet_distance,
    frechet_distance,
    frechet_distance_features,
    gaussian_statistics,
    mode_coverage,
)
from .theory import (
    jensen_shannon_divergence,
    optimal_discriminator,
    value_function,
    virtual_training_criterion,
)
from .vae import (
    ELBO,
    VAE,
    Autoencoder,
    GaussianEncoder,
    MLPDecoder,
    NegativeELBO,
    ReconstructionLoss,
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_likelihood,
    mlp_autoencoder,
    mlp_vae,
)

__all__ = [
    "DEFAULTS", "LOSSES", "BeganLoss", "ConvDiscriminator", "ConvGenerator", "Discriminator",
    "DraganLoss", "GANLoss", "GANResult", "Generator", "LeastSquaresLoss", "MinimaxLoss",
    "ModeCoverage", "NonSaturatingLoss", "WassersteinGPLoss", "WassersteinLoss",
    "autoencoder_l1", "began_convergence", "began_discriminator_loss", "began_generator_loss",
    "began_update_k", "clip_weights", "digits_classifier", "digits_frechet_distance",
    "dragan_penalty", "frechet_distance", "frechet_distance_features", "gaussian_statistics",
    "gradient_penalty", "input_gradient_norms", "interpolate", "jensen_shannon_divergence",
    "labeled_discriminator_loss",
    "least_squares_discriminator_loss", "least_squares_generator_loss", "make_loss",
    "make_optimizer", "minimax_discriminator_loss", "minimax_generator_loss", "mode_coverage",
    "nonsaturating_discriminator_loss", "nonsaturating_generator_loss", "optimal_discriminator",
    "sample", "train_gan", "value_function", "virtual_training_criterion",
    "wasserstein_critic_loss", "wasserstein_generator_loss",
]
__all__ += [
    "ELBO", "VAE", "Autoencoder", "GaussianEncoder", "MLPDecoder", "NegativeELBO",
    "ReconstructionLoss", "bernoulli_log_likelihood", "gaussian_kl", "gaussian_log_likelihood",
    "mlp_autoencoder", "mlp_vae",
]
