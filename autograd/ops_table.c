/*
 * ops_table.c -- the op table as one array, built from the list in ops.h, for the tests and
 * tools that need to enumerate every op.
 */
#include "ops.h"

#define AG_OP_ENTRY(name, inputs, call) &ag_op_##name,
const ag_op *const ag_op_table[] = {AG_OP_LIST(AG_OP_ENTRY)};
#undef AG_OP_ENTRY

const int ag_op_count = (int)(sizeof ag_op_table / sizeof ag_op_table[0]);
