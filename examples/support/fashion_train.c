/*
 * fashion_train.c -- the training run the Fashion-MNIST examples share (fashion_mnist,
 * fashion_cnn): epochs of shuffled mini-batches (softmax cross-entropy, back-propagation, one
 * optimiser step each), the test accuracy after each epoch, --load, --save, the SVG curves and
 * the closing lines. Each example brings its net as a forward function. Not library API.
 */
#include "fashion.h"
#include "progress.h"
#include "svg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The staging memory of one run: a batch of pixels and labels, and the training order. */
typedef struct {
    float *x;   /* (max batch, pixels) */
    int *lab;
    int *order; /* a permutation of the training items, shuffled each epoch */
} staging;

/* One epoch over s in a freshly shuffled order. Returns 0 or 1; fills the mean loss and the
 * fraction of training images misclassified (before each step's update). */
static int train_epoch(const fashion_run *r, ag_tape *t, staging *st, const fashion_split *s,
                       nn_rng *rng, double *loss, double *err) {
    nn_rng_shuffle(rng, st->order, s->n);
    double loss_sum = 0;
    long wrong = 0;
    const long nbatch = (s->n + r->batch - 1) / r->batch;
    progress p;
    progress_start(&p, "step", nbatch, r->quiet);
    for (long k = 0; k < nbatch; k++) {
        const int start = (int)(k * r->batch), b = s->n - start < r->batch ? s->n - start : r->batch;
        fashion_fill_batch(s, r->pixel_value, st->order, start, b, st->x, st->lab);
        ag_tensor *logits = r->forward(t, r->net, b, st->x); /* (b,10) */
        ag_tensor *E = ag_softmax_xent(t, logits, st->lab); /* mean over the batch */
        ag_backward(t, E);
        if (nn_optim_step(r->opt, t) != 0) {
            fprintf(stderr, "%s: step %ld: %s\n", r->prog, k, nn_error(t));
            return 1;
        }
        loss_sum += ag_item(E) * b;
        for (int i = 0; i < b; i++) wrong += fashion_argmax_row(logits, i) != st->lab[i];
        ag_tape_reset(t);
        progress_update(&p, k + 1, loss_sum / (start + b));
    }
    progress_end(&p);
    *loss = loss_sum / s->n;
    *err = (double)wrong / s->n;
    return 0;
}

/* Accuracy on the test split, gradients off; confusion[true][predicted] counts. Returns -1 on
 * a tape error. */
static double test_accuracy(const fashion_run *r, ag_tape *t, staging *st, const fashion_split *s,
                            long confusion[FASHION_NCLASS][FASHION_NCLASS]) {
    memset(confusion, 0, sizeof(long) * FASHION_NCLASS * FASHION_NCLASS);
    long right = 0;
    ag_tape_set_grad(t, false);
    for (int start = 0; start < s->n; start += r->eval_batch) {
        const int b = s->n - start < r->eval_batch ? s->n - start : r->eval_batch;
        fashion_fill_batch(s, r->pixel_value, NULL, start, b, st->x, st->lab);
        ag_tensor *logits = r->forward(t, r->net, b, st->x);
        if (ag_tape_error(t)) {
            fprintf(stderr, "%s: testing: %s\n", r->prog, ag_tape_error(t));
            ag_tape_set_grad(t, true);
            return -1;
        }
        for (int i = 0; i < b; i++) {
            int guess = fashion_argmax_row(logits, i);
            confusion[st->lab[i]][guess]++;
            right += guess == st->lab[i];
        }
        ag_tape_reset(t);
    }
    ag_tape_set_grad(t, true);
    return (double)right / s->n;
}

int fashion_train(const fashion_run *r, const fashion_split *train, const fashion_split *test,
                  nn_rng *rng) {
    int rc = 1;
    ag_tape *t = ag_tape_new();
    const int rows = r->batch > r->eval_batch ? r->batch : r->eval_batch;
    staging st = {malloc((size_t)rows * train->pixels * sizeof(float)),
                  malloc((size_t)rows * sizeof(int)), malloc((size_t)train->n * sizeof(int))};
    double *acc = malloc((size_t)(r->epochs + 1) * sizeof(double));
    double *err = malloc((size_t)(r->epochs + 1) * sizeof(double));
    if (!t || !st.x || !st.lab || !st.order || !acc || !err) {
        fprintf(stderr, "%s: out of memory (%s)\n", r->prog, ag_last_error());
        goto done;
    }
    for (int i = 0; i < train->n; i++) st.order[i] = i;

    long confusion[FASHION_NCLASS][FASHION_NCLASS];
    double train_seconds = 0, test_seconds = 0, final_acc = 0;
    if (r->load) {
        if (nn_load(r->load, r->ps, NULL) != 0) {
            fprintf(stderr, "%s: --load: %s\n", r->prog, ag_last_error());
            goto done;
        }
        final_acc = test_accuracy(r, t, &st, test, confusion);
        if (final_acc < 0) goto done;
        printf("weights loaded from %s: test acc %.4f\n", r->load, final_acc);
    } else if (r->epochs == 0) {
        final_acc = test_accuracy(r, t, &st, test, confusion);
        if (final_acc < 0) goto done;
        printf("untrained weights: test acc %.4f\n", final_acc);
    }
    for (int e = 0; e < r->epochs; e++) {
        double loss, t0 = progress_now();
        if (train_epoch(r, t, &st, train, rng, &loss, &err[e])) goto done;
        double t1 = progress_now();
        final_acc = acc[e] = test_accuracy(r, t, &st, test, confusion);
        double t2 = progress_now();
        if (final_acc < 0) goto done;
        train_seconds += t1 - t0;
        test_seconds += t2 - t1;
        printf("epoch %2d/%d  train loss %.4f  train error %6.2f%%  test acc %.4f  "
               "%.2f s (%.0f images/s)  test %.2f s\n",
               e + 1, r->epochs, loss, 100 * err[e], acc[e], t1 - t0, train->n / (t1 - t0),
               t2 - t1);
        fflush(stdout);
        nn_optim_set_lr(r->opt, nn_optim_lr(r->opt) * r->lr_decay);
    }
    fashion_print_confusion(confusion);
    if (r->svg && r->epochs > 0) {
        const svg_series series[2] = {{"test accuracy", acc, r->epochs, 1},
                                      {"training error", err, r->epochs, 1}};
        if (svg_line_plot(r->svg, r->svg_title, "epoch", "fraction of images", series, 2, false))
            goto done;
        printf("curves written to %s\n", r->svg);
    }
    if (r->save) {
        if (nn_save(r->save, r->ps, NULL) != 0) {
            fprintf(stderr, "%s: --save: %s\n", r->prog, ag_last_error());
            goto done;
        }
        printf("weights saved to %s\n", r->save);
    }
    printf("training %.1f s, testing %.1f s in all\n", train_seconds, test_seconds);
    printf("result: test_acc=%.4f epochs=%d seconds_per_epoch=%.2f\n", final_acc, r->epochs,
           r->epochs ? train_seconds / r->epochs : 0.0);
    rc = 0;
done:
    free(acc);
    free(err);
    free(st.x);
    free(st.lab);
    free(st.order);
    ag_tape_free(t);
    return rc;
}
