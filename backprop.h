/*
 * backprop.h -- the one header a user includes.
 *
 *   autograd.h  tensors, the tape, every op with its backward, the reverse sweep, gradcheck (ag_)
 *   nn.h        layers, sigmoid MLPs, unfolded recurrent nets, losses, optimisers (nn_)
 *
 * Link with -lbackprop -lm (or: pkg-config --cflags --libs backprop).
 */
#ifndef BACKPROP_H
#define BACKPROP_H

#include "autograd.h"
#include "nn.h"

#endif /* BACKPROP_H */
