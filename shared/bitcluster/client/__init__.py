"""The client side of both services, one concern per module:

* :mod:`.errors` -- what a refusal or a stopped job raises;
* :mod:`.retry` -- the one retry policy (services down, restarting, overloaded);
* :mod:`.http_client` -- :class:`~.http_client.BitclusterClient`: images -> vendor -> codes -> consumer;
* :mod:`.inputs` -- image files, folders and ``.npz`` files as inputs with stable ids;
* :mod:`.results` -- the resumable, locked results file of a batch job;
* :mod:`.batch_runner` -- ``bitcluster cluster --out``: the batch job that ties them together.
"""
