/*
** pii_policy.h — judging a text's findings against a policy: which entity
** types block a text, which need a person to look, and how risky it is.
**
** Each entity type has a sensitivity level (pii_recognizers.c): high for
** payment data, bank accounts, government identifiers and secrets; medium
** for contact details and birth dates; low for network addresses and
** business registration numbers.  By default high types block and medium
** types need review.  Nothing here knows SQL.
*/
#ifndef VG_PII_POLICY_H
#define VG_PII_POLICY_H

#include "pii.h"

#define VG_PII_LEVEL_LOW 1
#define VG_PII_LEVEL_MEDIUM 2
#define VG_PII_LEVEL_HIGH 3

/* The level of an entity type; types not built in (custom recognizers)
** are high, so that a new kind of data blocks until a policy says else. */
int vg_pii_entity_level(const char *zEntity);

typedef struct VgPiiPolicy {
  const char *const *azBlock; /* types that block; used when bBlockSet */
  int nBlock, bBlockSet;      /* unset: the high types */
  const char *const *azReview;
  int nReview, bReviewSet;    /* unset: the medium types */
  double minScore;            /* findings scored below are not counted */
  double blockScore;          /* a blocking finding below this needs review instead */
  int maxFindings;            /* more counted findings are not compliant; -1: no limit */
} VgPiiPolicy;

#define VG_PII_POLICY_MIN_SCORE 0.4
#define VG_PII_POLICY_BLOCK_SCORE 0.6

/* The default policy, as an initializer. */
#define VG_PII_POLICY_INIT                                                         \
  {                                                                                \
    .minScore = VG_PII_POLICY_MIN_SCORE, .blockScore = VG_PII_POLICY_BLOCK_SCORE, \
    .maxFindings = -1                                                              \
  }

void vg_pii_policy_default(VgPiiPolicy *p);

#define VG_PII_ALLOW 0
#define VG_PII_REVIEW 1
#define VG_PII_BLOCK 2

typedef struct VgPiiTypeCount {
  const char *zEntity;
  int n;      /* counted findings */
  int status; /* VG_PII_ALLOW, VG_PII_REVIEW or VG_PII_BLOCK */
  int level;
} VgPiiTypeCount;

typedef struct VgPiiAssessment {
  int bCompliant;
  int bReview;
  int risk;     /* 0 none, else the VG_PII_LEVEL_* reached */
  int nCounted;
  int bTooMany; /* more than maxFindings */
  VgPiiTypeCount *a; /* one per type found, in order of first finding */
  int nType;
} VgPiiAssessment;

/* Judge findings; SQLITE_OK or SQLITE_NOMEM.  Free with
** vg_pii_assessment_free. */
int vg_pii_assess(const VgPiiFindings *f, const VgPiiPolicy *p, VgPiiAssessment *pOut);
void vg_pii_assessment_free(VgPiiAssessment *p);

/* "none", "low", "medium", "high". */
const char *vg_pii_risk_name(int risk);
/* "compliant", "review", "blocked": the overall status. */
const char *vg_pii_status_name(const VgPiiAssessment *p);

#endif
