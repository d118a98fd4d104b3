// The Flex Consumption plan (FC1) and the Linux Python function app on it, running as the user-assigned
// identity. Its app settings are the whole set: a later deployment replaces settings added by hand, so
// extra ones go in `additionalAppSettings` (main.parameters.json). No setting carries a key or a secret:
// storage is identity-based, the Dataverse client secret stays in Key Vault, and telemetry is ingested
// with Entra ID.
//
// Two rules of the platform shape this file. Bicep needs the array of a `for` loop when the deployment starts
// (BCP178), and the settings read endpoints only known after the storage and telemetry resources deploy: so they
// are one object on a `Microsoft.Web/sites/config` `appsettings` resource, with no loop, as Microsoft's
// quickstart does through the verified module's `appSettingsKeyValuePairs`
// (https://github.com/Azure-Samples/functions-quickstart-python-http-azd, infra/app/api.bicep). And Flex
// Consumption refuses `siteConfig` properties of the other plans with ARM error 51021 ("... for Flex Consumption
// sites is invalid"), among them ftpsState, linuxFxVersion, use32BitWorkerProcess, netFrameworkVersion and
// functionsRuntimeScaleMonitoringEnabled (https://github.com/microsoft/azure-pipelines-tasks/issues/21032,
// https://github.com/Azure/terraform-azurerm-avm-res-web-site/pull/345): the runtime is in
// `functionAppConfig.runtime`, scaling in `functionAppConfig.scaleAndConcurrency`, and FTP is off through
// `basicPublishingCredentialsPolicies` below. tests/test_infra.py holds the list.

@description('Name of the function app (globally unique host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the resources; the function app also gets azd-service-name.')
param tags object = {}

@description('The azure.yaml service this app is deployed as.')
param serviceName string = 'api'

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Name of the storage account behind AzureWebJobsStorage.')
param storageAccountName string

@description('Name of the storage account of the instances\' shared state (AVAILABILITY_STATE_STORAGE).')
param stateStorageAccountName string

@description('Blob container the plan deploys the app package from.')
param deploymentContainerName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Key Vault URI (https://<name>.vault.azure.net/).')
param keyVaultUri string

@description('Name of the Dataverse client secret in the vault.')
param secretName string

@description('Org URL, e.g. https://contoso.crm.dynamics.com.')
param dataverseUrl string

@description('Entra tenant of the app registration.')
param dataverseTenantId string

@description('Client id of the app registration (the org\'s application user).')
param dataverseClientId string

// An empty schedule makes the host fail to load the timer: refused here rather than at start.
@description('NCRONTAB (6 fields) of the snapshot timer.')
@minLength(1)
param snapshotSchedule string

@description('NCRONTAB (6 fields) of the notify_subscribers timer.')
@minLength(1)
param notifySchedule string

@description('AVAILABILITY_MAX_CALLS_PER_MINUTE: action calls to the org in any 60 s, all instances together (0: none).')
@minValue(0)
param maxCallsPerMinute int

@description('AVAILABILITY_MAX_CONCURRENT_CALLS: action calls to the org in flight at once, all instances together (0: none).')
@minValue(0)
param maxConcurrentCalls int

@description('PUBLIC_ALLOWED_ORIGINS: comma-separated origins whose pages may read the public answers, or *; empty for none. The platform\'s CORS setting gets the same list.')
param publicAllowedOrigins string

@description('Most instances the app scales out to.')
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Python version of the Functions runtime.')
param pythonVersion string = '3.11'

@description('More app settings (docs/settings.md), merged under the ones this module sets (a name this module sets keeps this module\'s value).')
param additionalAppSettings object = {}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource stateStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: stateStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      cors: {
        allowedOrigins: corsAllowedOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// On Flex Consumption the Functions host runs its own CORS middleware ahead of the app: it answers every
// preflight itself (204), granting only the origins of this setting, and writes Access-Control-Allow-Origin over
// the app's on the other answers (Azure/azure-functions-host, CorsOptionsSetup.cs and JobHostCorsMiddleware.cs).
// So it takes the app's own list: PUBLIC_ALLOWED_ORIGINS without spaces, and * alone when listed. (No lambda
// here: the parser checkov uses cannot read one.)
var publicOrigins = replace(publicAllowedOrigins, ' ', '')
var publicOriginList = empty(publicOrigins) ? [] : split(publicOrigins, ',')
var corsAllowedOrigins = contains(publicOriginList, '*') ? [
  '*'
] : publicOriginList

var appSettings = {
  // The Functions host's and the app's storage, through the identity (no connection string, no key).
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  // DefaultAzureCredential (Key Vault) picks the user-assigned identity by this client id.
  AZURE_CLIENT_ID: identityClientId
  // OpenTelemetry to Application Insights, ingested with Entra ID. The connection string names the
  // component (its instrumentation key is an id, not a credential: local auth is disabled).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  // The shared state's own account, reached like AzureWebJobsStorage through the identity.
  AVAILABILITY_STATE_STORAGE__credential: 'managedidentity'
  AVAILABILITY_STATE_STORAGE__clientId: identityClientId
  AVAILABILITY_STATE_STORAGE__tableServiceUri: stateStorage.properties.primaryEndpoints.table
  // The org.
  DATAVERSE_URL: dataverseUrl
  DATAVERSE_TENANT_ID: dataverseTenantId
  DATAVERSE_CLIENT_ID: dataverseClientId
  KEY_VAULT_URL: keyVaultUri
  DATAVERSE_CLIENT_SECRET_NAME: secretName
  // Timers resolve %SNAPSHOT_SCHEDULE% and %NOTIFY_SCHEDULE% from app settings only: the app's defaults do
  // not reach the host.
  SNAPSHOT_SCHEDULE: snapshotSchedule
  NOTIFY_SCHEDULE: notifySchedule
  // What the org is spared, whatever the traffic (app settings are strings).
  AVAILABILITY_MAX_CALLS_PER_MINUTE: string(maxCallsPerMinute)
  AVAILABILITY_MAX_CONCURRENT_CALLS: string(maxConcurrentCalls)
  // Pages allowed to read the public answers; the platform's CORS setting above takes the same list.
  PUBLIC_ALLOWED_ORIGINS: publicAllowedOrigins
}

// The whole set in one object, written after the app exists: no loop, so nothing needs to be known before the
// storage and telemetry resources it reads have deployed. The template's own settings win over additional ones.
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: union(additionalAppSettings, appSettings)
}

// FTP and SCM publishing with basic credentials are off; deployments use the identity and the blob container.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output uri string = 'https://${app.properties.defaultHostName}'
