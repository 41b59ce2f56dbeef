/**
 * The one price table the cost figure (figures/cost.ts) and the monthly
 * model (cost-model.ts) use: on-demand list prices in one region, without
 * free tiers, Savings Plans or volume tiers beyond the first.
 *
 * Where they come from, honestly: the figures below are AWS's published
 * us-east-1 list prices as given to this work, and on 2026-12-01 each was
 * checked against stored copies of the pricing pages (and of pages quoting
 * them) in the tool library's search index, not against the live pages.
 * `SOURCES` says which copy confirmed what. Before quoting a dollar figure
 * elsewhere, check the live pages; a price change is an edit here only.
 */

export const PRICES = {
  region: 'us-east-1',
  /** The day these prices were taken and checked (against stored copies of the pages, see SOURCES). */
  checkedOn: '2026-12-01',
  currency: 'USD',
  apiGateway: {
    /** WebSocket APIs, messages sent or received, first 1 billion a month (later tiers are cheaper; not modelled). */
    perMillionMessages: 1.0,
    /** Messages are metered in 32 KB increments: a 33 KB message is two. */
    messageUnitBytes: 32 * 1024,
    perMillionConnectionMinutes: 0.25,
  },
  lambda: {
    perMillionRequests: 0.2,
    /** First tier (6 billion GB-s a month on x86, 7.5 billion on Arm); later tiers are cheaper (not modelled). */
    perGbSecond: { arm64: 0.0000133334, x86_64: 0.0000166667 },
    /** Duration is billed rounded up to this many milliseconds. */
    billedMsIncrement: 1,
  },
  dynamodb: {
    /** On-demand, Standard table class, after the price cut of 1 November 2024. */
    perMillionWriteRequestUnits: 0.625,
    perMillionReadRequestUnits: 0.125,
    /** A standard write of up to 1 KB is 1 WRU; a transactional one 2. */
    writeUnitBytes: 1024,
    /** A strongly consistent read of up to 4 KB is 1 RRU; eventually consistent 0.5; transactional 2. */
    readUnitBytes: 4 * 1024,
  },
} as const;

export type Architecture = keyof typeof PRICES.lambda.perGbSecond;

/** What each price was checked against (stored copies, found with the search tool, corpus "pages"). */
export const SOURCES: readonly { prices: string; page: string; checkedAgainst: string[] }[] = [
  {
    prices: 'API Gateway WebSocket: $1.00 per million messages, $0.25 per million connection minutes, 32 KB metering',
    page: 'https://aws.amazon.com/api-gateway/pricing/',
    checkedAgainst: [
      'stored copy of https://aws.amazon.com/api-gateway/pricing/: "Pay only for messages sent and received and the total number of connection minutes … Messages are metered in 32 KB increments. So, a 33 KB message is metered as two messages." (the copy\'s excerpt has no rate table)',
      'https://amnic.com/blogs/aws-api-gateway-pricing (citing the pricing page): "$1.00/M messages + $0.25/M connection-minutes"',
      'https://awsforengineers.com/blog/aws-api-gateway-pricing-explained (19 May 2025): "WebSocket APIs: $1.00 per million messages (first 1B)"',
    ],
  },
  {
    prices: 'Lambda: $0.20 per million requests; $0.0000133334 per GB-s on arm64, $0.0000166667 on x86_64; billed per 1 ms',
    page: 'https://aws.amazon.com/lambda/pricing/',
    checkedAgainst: [
      'stored copy of https://aws.amazon.com/lambda/pricing/: duration "rounded up to the nearest 1ms", prices "based on price in US East (N. Virginia)" (the copy\'s excerpt has no rate table)',
      'https://cloudchipr.com/blog/aws-lambda-pricing (US East): x86 first 6 billion GB-s $0.0000166667, Arm first 7.5 billion GB-s $0.0000133334',
      'a Lambda cost note at git.mcrn.ar (lambda-13-cost.md): requests $0.20 / 1M on both; duration $0.0000166667 (x86_64) and $0.0000133334 (arm64) per GB-s; 1 ms increments',
    ],
  },
  {
    prices: 'DynamoDB on-demand: $0.625 per million WRU, $0.125 per million RRU; unit sizes and the transactional doubling',
    page: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    checkedAgainst: [
      'https://airbyte.com/data-engineering-resources/dynamodb-pricing (July 2025, US East, after the November 2024 reduction): "$0.625 per million write request units", "$0.125 per million read request units"',
      'https://www.jusdb.com/blog/dynamodb-cost-optimization-a-comprehensive-guide-by-jusdb: on-demand throughput 50% cheaper from 1 November 2024',
      'stored copy of https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/dynamodb.html: a strongly consistent read of up to 4 KB is one RRU, eventually consistent one half, transactional two; a standard WRU writes up to 1 KB, a transactional write needs two',
      'one stored page (infratally.com) says "$0.25 per million read request units": it disagrees with the others and with the brief, and was not followed',
    ],
  },
  {
    prices: "The baseline's Lambda settings: 256 MB, x86_64 (no Architectures property, so Lambda's default)",
    page: 'https://github.com/aws-samples/simple-websockets-chat-app/blob/master/template.yaml',
    checkedAgainst: [
      'stored copy of aws-samples/simple-websockets-chat-app template.yaml (commit 013091d91281a0aec4794f9eca8acf24a99375b8, found with the search tool, corpus "code"): OnConnectFunction, OnDisconnectFunction and SendMessageFunction each have MemorySize: 256 and no Architectures',
    ],
  },
];

/** API Gateway's billed messages for one message of `bytes`: 32 KB increments, at least one. */
export const apiGatewayMessages = (bytes: number): number => Math.max(1, Math.ceil(bytes / PRICES.apiGateway.messageUnitBytes));

/** Lambda's billed duration for one invocation of `ms`: rounded up to the increment. */
export const lambdaBilledMs = (ms: number): number => {
  const step = PRICES.lambda.billedMsIncrement;
  return Math.max(step, Math.ceil(ms / step) * step);
};
