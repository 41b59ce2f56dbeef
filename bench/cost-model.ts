/**
 * A month of chat for N monthly active users, priced from what the bench
 * measured (figures/cost.ts): the units one send, one session and one
 * heartbeat used on each side, times how many of each the assumptions give,
 * at the prices in prices.ts. Nothing here is a price-only estimate: every
 * count of messages, invocations, milliseconds and request units is a
 * measured one, scaled.
 */
import { combine, costOf, emptyUsage, scaled, type Cost, type FunctionConfig, type Usage } from './billing';

export interface Assumptions {
  /** Days a month each monthly active user is active. */
  activeDaysPerMonth: number;
  /** Hours online on an active day (connected, whether or not chatting). */
  hoursOnlinePerDay: number;
  /** Messages each user sends on an active day. */
  messagesPerDay: number;
  /** Everyone sends into rooms of this size, where everyone is online. */
  roomSize: number;
  /** Connects (sessions) on an active day: each opens a socket, joins one room, and later closes. */
  sessionsPerDay: number;
  /** The days in a month, to turn online hours into people online at once. */
  daysPerMonth: number;
}

export const ASSUMPTIONS: Assumptions = {
  activeDaysPerMonth: 20,
  hoursOnlinePerDay: 2,
  messagesPerDay: 20,
  roomSize: 10,
  sessionsPerDay: 2,
  daysPerMonth: 30,
};

export const MAU_LEVELS = [100, 10_000, 1_000_000] as const;

/** One side as the model needs it: measured units, some depending on how many are online at once. */
export interface SideProfile {
  name: string;
  functions: Record<string, FunctionConfig>;
  /** One message sent into a room of `roomSize` everyone is in, with `online` connections open. */
  send(online: number): Usage;
  /** One session: connect (with any authorizer), join a room, disconnect. */
  session(online: number): Usage;
  /** Keep-alive traffic per connected hour (zero for a side that sends none). */
  perOnlineHour(): Usage;
}

export interface MonthlyEstimate {
  mau: number;
  /** Connections open at an average moment: MAU × active days / days × hours / 24. */
  online: number;
  usage: Usage;
  cost: Cost;
}

/** Usage with the phase's own connection minutes taken out: the model bills online time itself. */
export const withoutConnectionTime = (u: Usage): Usage => ({ ...u, connectionMinutes: 0, seconds: 0 });

export function onlineAtOnce(mau: number, a: Assumptions = ASSUMPTIONS): number {
  return mau * (a.activeDaysPerMonth / a.daysPerMonth) * (a.hoursOnlinePerDay / 24);
}

export function monthly(side: SideProfile, mau: number, a: Assumptions = ASSUMPTIONS): MonthlyEstimate {
  const online = onlineAtOnce(mau, a);
  const activeDays = mau * a.activeDaysPerMonth;
  const onlineHours = activeDays * a.hoursOnlinePerDay;
  let usage = emptyUsage();
  usage = combine(usage, withoutConnectionTime(side.send(online)), activeDays * a.messagesPerDay);
  usage = combine(usage, withoutConnectionTime(side.session(online)), activeDays * a.sessionsPerDay);
  usage = combine(usage, withoutConnectionTime(side.perOnlineHour()), onlineHours);
  usage.connectionMinutes = onlineHours * 60;
  return { mau, online, usage, cost: costOf(usage, side.functions) };
}

/** Monthly cost per MAU level for each side. */
export function monthlyTable(sides: readonly SideProfile[], a: Assumptions = ASSUMPTIONS): { side: string; estimates: MonthlyEstimate[] }[] {
  return sides.map((side) => ({ side: side.name, estimates: MAU_LEVELS.map((mau) => monthly(side, mau, a)) }));
}

export const perUnit = (u: Usage, n: number): Usage => scaled(u, n > 0 ? 1 / n : 0);

export function describeAssumptions(a: Assumptions = ASSUMPTIONS): string {
  return (
    `each monthly active user is active ${a.activeDaysPerMonth} of ${a.daysPerMonth} days, online ${a.hoursOnlinePerDay} h on each (so ` +
    `${((a.activeDaysPerMonth / a.daysPerMonth) * (a.hoursOnlinePerDay / 24) * 100).toFixed(1)}% of users are online at an average moment, one tab each), ` +
    `sends ${a.messagesPerDay} messages a day into rooms of ${a.roomSize} where everyone is online, and connects ${a.sessionsPerDay} times a day ` +
    `(each session: connect, join one room, disconnect)`
  );
}
