/**
 * Offline inspection devices (the documents' Tauri app) log in with their own secret and get an
 * access token whose subject is `device:<id>`. What such a token may grant is fixed here, so a
 * device credential can never reach master-data writes or administration whatever it carries.
 */
export const DEVICE_SUBJECT_PREFIX = "device:";
export const DEVICE_PERMISSIONS: readonly string[] = ["inspection:create", "inspection:view", "product:search"];

export const deviceSubject = (deviceId: string): string => DEVICE_SUBJECT_PREFIX + deviceId;

export function isDeviceSubject(sub: string): boolean {
  return sub.startsWith(DEVICE_SUBJECT_PREFIX);
}

/** The device id of a `device:<id>` subject, or undefined for any other subject. */
export function deviceIdOf(sub: string): string | undefined {
  return isDeviceSubject(sub) ? sub.slice(DEVICE_SUBJECT_PREFIX.length) : undefined;
}

/** The token's grants narrowed to what a device may hold. */
export function devicePermissions(granted: readonly string[]): string[] {
  return granted.filter((g) => DEVICE_PERMISSIONS.includes(g));
}
