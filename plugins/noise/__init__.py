"""First-party noise models.

Besides the two standard shuffles, the models of ``../shared/specs/peers-and-protocols.md``
part D: harder, RS-specific noise (partial, class-aware, semantic, edited and degenerate
captions, their mixture, and CHNR's wrong-class captions). Registering imports numpy only.
"""

from rsbench import hookimpl


@hookimpl
def register_noise_models(register):
    from rsbench_plugins.noise.caption_shuffle import CaptionShuffle
    from rsbench_plugins.noise.class_confusion import ClassConfusion
    from rsbench_plugins.noise.compound import Compound
    from rsbench_plugins.noise.degenerate import Degenerate
    from rsbench_plugins.noise.image_shuffle import ImageShuffle
    from rsbench_plugins.noise.nearest_neighbour import NearestNeighbour
    from rsbench_plugins.noise.partial_image import PartialImage
    from rsbench_plugins.noise.within_class import WithinClass
    from rsbench_plugins.noise.word_swap import WordSwap
    from rsbench_plugins.noise.wrong_class import WrongClass

    register("caption_shuffle", CaptionShuffle)
    register("image_shuffle", ImageShuffle)
    register("partial_image", PartialImage)
    register("class_confusion", ClassConfusion)
    register("within_class", WithinClass)
    register("nearest_neighbour", NearestNeighbour)
    register("word_swap", WordSwap)
    register("degenerate", Degenerate)
    register("compound", Compound)
    register("wrong_class", WrongClass)
