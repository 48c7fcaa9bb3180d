/** What a budget cap covers: the periods the ledger counts spend over and the settings offer. */
export const BUDGET_PERIODS = ['total', 'day', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
