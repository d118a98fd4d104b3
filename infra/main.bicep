// `azd up` entry point: one resource group holding the availability gateway and what it needs.
// Each concern is one small module under modules/: identity, monitoring, storage (the host's), statestorage
// (the instances' shared state), keyvault (and secret), functionapp, and rbac (every role the app's identity
// holds).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it names the resource group and seeds the resources\' unique names.')
param environmentName string

@minLength(1)
@description('Azure region of every resource. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('URL of the Dynamics 365 Contact Center org (Dataverse), e.g. https://contoso.crm.dynamics.com.')
param dataverseUrl string

@description('Entra ID tenant (GUID, or a domain such as contoso.onmicrosoft.com) of the app registration that is the org\'s application user.')
param dataverseTenantId string

@description('Application (client) id of that app registration.')
param dataverseClientId string

@secure()
@description('Client secret of that app registration. Optional: leave it empty and put the secret in the vault after deployment (docs/deploy.md, "Put the client secret in the vault").')
param dataverseClientSecret string = ''

@description('Name of the Dataverse client secret in Key Vault.')
param dataverseClientSecretName string = 'dataverse-client-secret'

// azd passes a value set to "" as "" (only an unset one falls back to the default), and the host cannot load a
// timer with an empty schedule.
@description('NCRONTAB (6 fields) of the snapshot timer.')
@minLength(1)
param snapshotSchedule string = '0 */5 * * * *'

@description('NCRONTAB (6 fields) of the notify_subscribers timer (change subscriptions); every minute keeps the 90 s promise.')
@minLength(1)
param notifySchedule string = '0 * * * * *'

// Dataverse's service protection limits are per user, and the app is one application user: 6,000 requests in
// any 5 minutes and 52 at once (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits).
// The defaults keep to half the rate and below the concurrency, leaving room for the org's other callers.
@description('AVAILABILITY_MAX_CALLS_PER_MINUTE: action calls to the org in any 60 s, all instances together; 0 for none. The default, 600, is half of Dataverse\'s 6,000 requests per 5 minutes per user.')
@minValue(0)
param maxCallsPerMinute int = 600

@description('AVAILABILITY_MAX_CONCURRENT_CALLS: action calls to the org in flight at once, all instances together; 0 for none. The default, 24, is below Dataverse\'s 52 concurrent requests per user.')
@minValue(0)
param maxConcurrentCalls int = 24

@description('PUBLIC_ALLOWED_ORIGINS: comma-separated origins (https://www.contoso.com) whose pages may read the public answers, or *; empty for none. Sets the app setting and the platform\'s CORS setting alike, which on Flex Consumption answers preflights before the app.')
param publicAllowedOrigins string = ''

@description('Most instances the Flex Consumption plan scales the app out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('More app settings (docs/settings.md) as one object of strings, e.g. {"PUBLIC_AVAILABILITY": "{\\"support\\": {\\"workstreamId\\": \\"<guid>\\"}}"}, merged under the ones the template sets (those keep the template\'s value). Settings added by hand in the portal are replaced on the next provision: put them here instead.')
param additionalAppSettings object = {}

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-availability-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-availability-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module stateStorage 'modules/statestorage.bicep' = {
  name: 'statestorage'
  scope: rg
  params: {
    name: 'ststate${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
  }
}

// Written only when given: with an empty value the operator puts the secret after deployment, and a later
// deployment leaves it alone.
module dataverseSecret 'modules/secret.bicep' = if (!empty(dataverseClientSecret)) {
  name: 'dataverse-secret'
  scope: rg
  params: {
    keyVaultName: keyVault.outputs.name
    name: dataverseClientSecretName
    value: dataverseClientSecret
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    stateStorageAccountName: stateStorage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    stateStorageAccountName: stateStorage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultUri: keyVault.outputs.uri
    secretName: dataverseClientSecretName
    dataverseUrl: dataverseUrl
    dataverseTenantId: dataverseTenantId
    dataverseClientId: dataverseClientId
    snapshotSchedule: snapshotSchedule
    notifySchedule: notifySchedule
    maxCallsPerMinute: maxCallsPerMinute
    maxConcurrentCalls: maxConcurrentCalls
    publicAllowedOrigins: publicAllowedOrigins
    maximumInstanceCount: maximumInstanceCount
    additionalAppSettings: additionalAppSettings
  }
  // The identity holds its roles before the app first starts (both storage accounts, vault, telemetry).
  dependsOn: [
    rbac
  ]
}

// azd reads these into the environment (.azure/<env>/.env): names and URLs only, never a key or secret.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_URL string = functionApp.outputs.uri
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STATE_STORAGE_ACCOUNT_NAME string = stateStorage.outputs.name
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
