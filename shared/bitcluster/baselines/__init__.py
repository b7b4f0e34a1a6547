"""The clustering systems of the papers we compare VAB with, behind VAB's method interface.

One module per method (each provides ``train``, ``save``, ``load``, ``evaluate``):

* :mod:`.pixel_mixtures` -- ``kmeans``, ``gmm`` on raw pixels (vab paper, Table 1);
* :mod:`.ae_mixtures` -- ``ae-kmeans``, ``ae-gmm``, ``convae-kmeans``, ``convae-gmm``: an
  autoencoder pre-trained on reconstruction, then K-means / GMM on its latent (Bhattarai);
* :mod:`.vade` -- ``vade``: VaDE, a VAE with a learnable Gaussian-mixture prior (Jiang et al. 2017);
* :mod:`.kdae` -- ``kdae``: k autoencoders, one per cluster (Opochinsky et al. 2020);
* :mod:`.kdvae` -- ``kdvae``: k VAEs, one per cluster (the k-DVAE paper);
* :mod:`.variational_clustering` -- ``vc``: a Gaussian-mixture VAE with a Gumbel-Softmax cluster
  variable, trained end to end from scratch.

Shared pieces: :mod:`.autoencoders` (the networks), :mod:`.gaussian_mixture_prior` (the learnable
GMM prior of VaDE and vc), :mod:`.latent` (fit K-means / GMM on a latent, the latent quantiser)
and :mod:`.common` (minibatch training, options, run-directory files). Labels are read only by
``evaluate``.
"""
