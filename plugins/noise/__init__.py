"""First-party noise models."""

from rsbench import hookimpl


@hookimpl
def register_noise_models(register):
    from rsbench_plugins.noise.caption_shuffle import CaptionShuffle
    from rsbench_plugins.noise.image_shuffle import ImageShuffle

    register("caption_shuffle", CaptionShuffle)
    register("image_shuffle", ImageShuffle)
