// Shapes of a validated state machine definition (JSONPath query language) and of JSON values.
// validateDefinition() returns a Machine; everything else reads these types. Fields are as the
// States Language names them, so a definition is its own in-memory form (no second model to keep in sync).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Machine {
  StartAt: string;
  States: Record<string, StateDef>;
  Comment?: string;
  Version?: string;
  TimeoutSeconds?: number;
}

export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}

export interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
}

/** One Choice rule: a comparison (Variable + one operator), or And/Or/Not; top-level rules have Next. */
export interface ChoiceRule {
  Variable?: string;
  And?: ChoiceRule[];
  Or?: ChoiceRule[];
  Not?: ChoiceRule;
  Next?: string;
  [operator: string]: Json | ChoiceRule | ChoiceRule[] | undefined;
}

export interface StateDef {
  Type: 'Pass' | 'Task' | 'Choice' | 'Wait' | 'Succeed' | 'Fail' | 'Parallel' | 'Map';
  Comment?: string;
  Next?: string;
  End?: boolean;
  InputPath?: string | null;
  OutputPath?: string | null;
  ResultPath?: string | null;
  Parameters?: Json;
  ResultSelector?: JsonObject;
  Result?: Json;
  // Task
  Resource?: string;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number;
  HeartbeatSecondsPath?: string;
  Credentials?: Json;
  Retry?: Retrier[];
  Catch?: Catcher[];
  // Choice
  Choices?: ChoiceRule[];
  Default?: string;
  // Wait
  Seconds?: number;
  Timestamp?: string;
  SecondsPath?: string;
  TimestampPath?: string;
  // Fail
  Error?: string;
  Cause?: string;
  ErrorPath?: string;
  CausePath?: string;
  // Parallel
  Branches?: Machine[];
  // Map
  Iterator?: Machine;
  ItemProcessor?: Machine & { ProcessorConfig?: { Mode?: string; ExecutionType?: string } };
  ItemsPath?: string;
  ItemSelector?: JsonObject;
  MaxConcurrency?: number;
  MaxConcurrencyPath?: string;
  ToleratedFailurePercentage?: number;
  ToleratedFailurePercentagePath?: string;
  ToleratedFailureCount?: number;
  ToleratedFailureCountPath?: string;
  Label?: string;
}
