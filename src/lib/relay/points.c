/*
 * points.c - struct relay_points, the checked points of one client write
 * as line protocol: what ingest fills and every later stage of the relay
 * takes (relay_int.h, "points").
 */
#include "relay/relay_int.h"

void relay_points_init(struct relay_points *p)
{
	ferry_buf_init(&p->lp, 0);
	p->npoints = 0;
	p->nrejected = 0;
	p->why[0] = '\0';
}

void relay_points_release(struct relay_points *p)
{
	ferry_buf_release(&p->lp);
	p->npoints = 0;
	p->nrejected = 0;
	p->why[0] = '\0';
}

void relay_points_clear(struct relay_points *p)
{
	ferry_buf_clear(&p->lp);
	p->npoints = 0;
	p->nrejected = 0;
	p->why[0] = '\0';
}
