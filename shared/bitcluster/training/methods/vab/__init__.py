"""VAB (variational autoencoder with a Bernoulli-mixture prior) and its two training recipes.

* :mod:`.with_teacher`: ``vab``, ours and the default: pre-training, then the ELBO plus a pull
  towards a teacher's pseudo-labels;
* :mod:`.paper`: ``vab-paper``, the paper as written: the ELBO with a per-epoch EM refit of the BMM;
* :mod:`.loss`: the ELBO's terms (eq. 10-17), the one loss both recipes minimise;
* :mod:`.training`: what both recipes' training shares (set-up, loss terms, codes, BMM refits);
* :mod:`.state`: a trained run's architecture, files and scores, the same for both recipes.

The network itself is :class:`bitcluster.training.nets.vab.VAB`, with the other networks.
"""
