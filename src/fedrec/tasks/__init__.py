"""One package per problem (rating, ranking, classification, node classification): its task, cohort kernels and
sequential reference."""
