/*
 * walkthrough.h -- the chain rule through a hidden layer, in numbers (examples/chain_rule
 * --hidden; docs/tutorial.md walks its output).
 */
#ifndef BACKPROP_EXAMPLES_PAPER_WALKTHROUGH_H
#define BACKPROP_EXAMPLES_PAPER_WALKTHROUGH_H

/* A 2-2-1 sigmoid net on one case, printed to stdout: the forward pass, the narrated sweep,
 * the hidden units' rule dE/dy_i = sum_j dE/dx_j w_ji with its numbers, then two weight
 * changes with the paper's rule dw(t) = -eps dE/dw + alpha dw(t-1) (eps 0.5, alpha 0.9), the
 * second one carrying the first's momentum. Returns the exit status (0, or 1 after printing
 * the library's error). */
int hidden_walkthrough(void);

#endif
