// Price intervals and DR events as stored (the newest signal wins).
import type { Db } from "../db/pool.js";

export async function findPriceInterval(db: Db, siteId: string, tariffId: string, validFrom: Date) {
  return db
    .selectFrom("price_intervals")
    .selectAll()
    .where("site_id", "=", siteId)
    .where("tariff_id", "=", tariffId)
    .where("valid_from", "=", validFrom)
    .executeTakeFirst();
}

export async function findDrEvent(db: Db, siteId: string, drEventId: string) {
  return db
    .selectFrom("dr_events")
    .selectAll()
    .where("site_id", "=", siteId)
    .where("dr_event_id", "=", drEventId)
    .executeTakeFirst();
}
