# One half of an exported model as an image, copied into the pod by an init container (see README.md).
# Build with the half's directory as the context, so that the consumer's image never holds the encoder:
#   docker build -f deploy/k8s/model.Dockerfile -t bitcluster-model-vendor:<model_id>   models/vab32/vendor
#   docker build -f deploy/k8s/model.Dockerfile -t bitcluster-model-consumer:<model_id> models/vab32/consumer
# Tag it with the manifest's model_id: an immutable tag names exactly one model.
FROM busybox:1.37
COPY . /model
USER 10001
