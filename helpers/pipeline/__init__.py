"""The input pipeline of `augment_device="gpu"` runs, one stage: where the training images are kept (`store`: decoded
on the GPU, decoded in pinned host memory, or JPEG bytes decoded on the GPU by nvJPEG, `jpeg`), how a batch reaches
the GPU one step ahead (`staging`), the batched augmentation (`augment`) and the loader of indices (`loader`).
The trainer meets it at one seam, `feed.Feed`.
"""
