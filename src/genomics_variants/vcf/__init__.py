"""Stage 1: from VCF/BCF/gVCF files to genotype codes per normalised variant and sample."""
