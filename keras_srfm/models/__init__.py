"""Networks of Sec. III-A: generator, discriminator and the VGG19 feature extractor."""
