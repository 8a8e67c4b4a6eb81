/*
** pii_policy.c — compliance of findings with a policy (see pii.h, pii_policy section).
*/
#include "pii/pii.h"

#include <string.h>

void vg_pii_policy_default(VgPiiPolicy *p) {
  static const VgPiiPolicy def = VG_PII_POLICY_INIT;
  *p = def;
}

static int in_list(const char *const *az, int n, const char *z) {
  for (int i = 0; i < n; i++) {
    if (strcmp(az[i], z) == 0) return 1;
  }
  return 0;
}

static int blocks(const VgPiiPolicy *p, const char *zEntity, int level) {
  return p->bBlockSet ? in_list(p->azBlock, p->nBlock, zEntity) : level == VG_PII_LEVEL_HIGH;
}

static int reviews(const VgPiiPolicy *p, const char *zEntity, int level) {
  return p->bReviewSet ? in_list(p->azReview, p->nReview, zEntity)
                       : level == VG_PII_LEVEL_MEDIUM;
}

/* The entry for zEntity, added if new; 0 when out of memory. */
static VgPiiTypeCount *type_entry(VgPiiAssessment *a, const char *zEntity) {
  for (int i = 0; i < a->nType; i++) {
    if (strcmp(a->a[i].zEntity, zEntity) == 0) return &a->a[i];
  }
  VgPiiTypeCount *aNew = sqlite3_realloc64(a->a, sizeof(VgPiiTypeCount) * (size_t)(a->nType + 1));
  if (aNew == 0) return 0;
  a->a = aNew;
  VgPiiTypeCount *t = &a->a[a->nType++];
  t->zEntity = zEntity;
  t->n = 0;
  t->status = VG_PII_ALLOW;
  t->level = vg_pii_entity_level(zEntity);
  return t;
}

int vg_pii_assess(const VgPiiFindings *f, const VgPiiPolicy *p, VgPiiAssessment *pOut) {
  memset(pOut, 0, sizeof(*pOut));
  for (int i = 0; i < f->n; i++) {
    const VgPiiFinding *x = &f->a[i];
    if (x->score < p->minScore) continue;
    VgPiiTypeCount *t = type_entry(pOut, x->zEntity);
    if (t == 0) {
      vg_pii_assessment_free(pOut);
      return SQLITE_NOMEM;
    }
    t->n++;
    pOut->nCounted++;
    int status = VG_PII_ALLOW;
    if (blocks(p, x->zEntity, t->level)) {
      /* A blocking type found with little confidence is a question for a
      ** person, not a verdict. */
      status = x->score >= p->blockScore ? VG_PII_BLOCK : VG_PII_REVIEW;
    } else if (reviews(p, x->zEntity, t->level)) {
      status = VG_PII_REVIEW;
    }
    if (status > t->status) t->status = status;
  }
  pOut->bCompliant = 1;
  for (int i = 0; i < pOut->nType; i++) {
    const VgPiiTypeCount *t = &pOut->a[i];
    int risk = t->level;
    if (t->status == VG_PII_BLOCK) {
      risk = VG_PII_LEVEL_HIGH;
      pOut->bCompliant = 0;
    } else if (t->status == VG_PII_REVIEW) {
      if (risk < VG_PII_LEVEL_MEDIUM) risk = VG_PII_LEVEL_MEDIUM;
      pOut->bReview = 1;
    }
    if (risk > pOut->risk) pOut->risk = risk;
  }
  if (p->maxFindings >= 0 && pOut->nCounted > p->maxFindings) {
    pOut->bTooMany = 1;
    pOut->bCompliant = 0;
    if (pOut->risk < VG_PII_LEVEL_MEDIUM) pOut->risk = VG_PII_LEVEL_MEDIUM;
  }
  return SQLITE_OK;
}

void vg_pii_assessment_free(VgPiiAssessment *p) {
  sqlite3_free(p->a);
  memset(p, 0, sizeof(*p));
}

const char *vg_pii_risk_name(int risk) {
  static const char *const az[] = {"none", "low", "medium", "high"};
  return az[risk < 0 ? 0 : risk > 3 ? 3 : risk];
}

const char *vg_pii_status_name(const VgPiiAssessment *p) {
  if (!p->bCompliant) return "blocked";
  return p->bReview ? "review" : "compliant";
}
